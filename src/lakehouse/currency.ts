/**
 * Fixed rates to USD for the currencies commerce events carry (the seed's USD, EUR, GBP). Silver's
 * session revenue uses them; the warehouse seeds `dim_currency` with the same values, editable
 * there. Documented in docs/events.md and docs/warehouse.md.
 */
export const USD_RATES: Readonly<Record<string, number>> = { USD: 1, EUR: 1.08, GBP: 1.27 };

/** USD per unit of `currency`; an unknown code counts as USD (the contract only lets the three through). */
export function usdRate(currency: string): number {
  return USD_RATES[currency] ?? 1;
}
