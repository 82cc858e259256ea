/**
 * The fixed vocabulary of generated commerce traffic, as seed 004's producer has it: pages,
 * the 29-item catalog, payment failures and the weights of every choice. Names and e-mail
 * domains are rtsa's own small lists (the seed used Faker); e-mail domains are reserved ones.
 */
import type { CommerceEventType, Currency, DeviceType } from '../../events/commerce-event.ts';

/** The signup sources, uniform as in the seed: the contract's list. */
export { SIGNUP_SOURCES } from '../../events/commerce-event.ts';

/** Seed mix of event types (weights). */
export const SEED_EVENT_WEIGHTS: Readonly<Record<CommerceEventType, number>> = {
  page_view: 60,
  user_signup: 10,
  purchase: 20,
  payment_failed: 10,
};

export const DEVICE_WEIGHTS: readonly (readonly [DeviceType, number])[] = [
  ['mobile', 55],
  ['desktop', 35],
  ['tablet', 8],
  ['other', 2],
];

export const CURRENCY_WEIGHTS: readonly (readonly [Currency, number])[] = [
  ['USD', 80],
  ['EUR', 15],
  ['GBP', 5],
];

export const QUANTITY_WEIGHTS: readonly (readonly [number, number])[] = [
  [1, 70],
  [2, 15],
  [3, 8],
  [4, 4],
  [5, 3],
];

export const RETRY_COUNT_WEIGHTS: readonly (readonly [number, number])[] = [
  [0, 50],
  [1, 30],
  [2, 15],
  [3, 5],
];

/** Not in the seed (it never sends `plan_type`, meaning free): a few paid signups make dim_user's plans real. */
export const PLAN_WEIGHTS: readonly (readonly [string, number])[] = [
  ['free', 70],
  ['basic', 15],
  ['premium', 10],
  ['enterprise', 5],
];

export const PAYMENT_METHODS = ['credit_card', 'debit_card', 'paypal', 'apple_pay', 'google_pay'] as const;

export const PAGES: readonly (readonly [path: string, title: string])[] = [
  ['/', 'Home'],
  ['/products', 'Products'],
  ['/products/category/electronics', 'Electronics'],
  ['/products/category/clothing', 'Clothing'],
  ['/products/category/home', 'Home & Garden'],
  ['/cart', 'Shopping Cart'],
  ['/checkout', 'Checkout'],
  ['/account', 'My Account'],
  ['/account/orders', 'Order History'],
  ['/account/settings', 'Account Settings'],
  ['/search', 'Search Results'],
  ['/about', 'About Us'],
  ['/contact', 'Contact'],
  ['/blog', 'Blog'],
  ['/help', 'Help Center'],
];
export const SITE = 'https://example.com';

/** With 60 % a referrer is picked from these (null included), else null. */
export const REFERRERS: readonly (string | null)[] = [
  'https://www.google.com/search?q=shop',
  'https://www.facebook.com/',
  'https://twitter.com/',
  'https://www.instagram.com/',
  null,
];

export const CATALOG: readonly (readonly [category: string, items: readonly string[]])[] = [
  ['Electronics', ['Smartphone', 'Laptop', 'Headphones', 'Tablet', 'Smartwatch', 'Camera']],
  ['Clothing', ['T-Shirt', 'Jeans', 'Jacket', 'Sneakers', 'Dress', 'Hoodie']],
  ['Home', ['Lamp', 'Chair', 'Desk', 'Rug', 'Plant', 'Mirror']],
  ['Books', ['Novel', 'Textbook', 'Cookbook', 'Biography', 'Comics', 'Magazine']],
  ['Sports', ['Running Shoes', 'Yoga Mat', 'Dumbbells', 'Bicycle', 'Tennis Racket']],
];

export const PAYMENT_FAILURES: readonly (readonly [reason: string, code: string])[] = [
  ['insufficient_funds', 'ERR_001'],
  ['card_declined', 'ERR_002'],
  ['expired_card', 'ERR_003'],
  ['fraud_detected', 'ERR_004'],
  ['invalid_cvv', 'ERR_005'],
  ['network_error', 'ERR_006'],
  ['bank_timeout', 'ERR_007'],
];

export const FIRST_NAMES = [
  'ada',
  'alan',
  'amara',
  'ben',
  'carla',
  'chen',
  'dana',
  'diego',
  'elena',
  'emil',
  'farah',
  'felix',
  'grace',
  'hana',
  'ivan',
  'jade',
  'jonas',
  'kai',
  'lena',
  'luis',
  'maya',
  'mei',
  'nina',
  'omar',
  'priya',
  'quinn',
  'rosa',
  'sami',
  'sofia',
  'tariq',
  'uma',
  'vera',
  'wei',
  'yara',
  'yusuf',
  'zoe',
] as const;
export const LAST_NAMES = [
  'adams',
  'baker',
  'costa',
  'diaz',
  'evans',
  'fischer',
  'garcia',
  'haddad',
  'ito',
  'jensen',
  'kim',
  'lopez',
  'meyer',
  'nakamura',
  'okafor',
  'patel',
  'quist',
  'rossi',
  'silva',
  'tanaka',
  'ueda',
  'varga',
  'wagner',
  'xu',
  'yilmaz',
  'zhang',
] as const;
export const EMAIL_DOMAINS = ['example.com', 'example.org', 'example.net', 'mail.example'] as const;
export const COMPANIES = [
  'Acme',
  'Globex',
  'Initech',
  'Umbrella',
  'Hooli',
  'Vandelay',
  'Stark',
  'Wayne',
  'Wonka',
  'Tyrell',
  'Cyberdyne',
  'Soylent',
  'Gringotts',
  'Oscorp',
  'Monarch',
  'Aperture',
] as const;
