export * from './stream-event.ts';
export * from './timestamp.ts';
export * from './commerce-event.ts';
export * from './limits.ts';
export * from './route.ts';
