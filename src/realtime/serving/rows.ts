/**
 * The rows the serving tables are read as, once: the read model returns them, the API's response
 * schemas (and so the OpenAPI document) embed them, the dashboard and ops show them.
 */
import Type, { type Static, type TSchema } from 'typebox';

/** Rankings `/streams/top` knows; each maps to a fixed ORDER BY in queries.ts (never user text). */
export const TOP_BY = ['donations_usd', 'chat_messages', 'active_viewers'] as const;
export type TopBy = (typeof TOP_BY)[number];

export const DateTime = (description: string) => Type.String({ format: 'date-time', description });
export const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);
export const Count = (description: string) => Type.Integer({ minimum: 0, description });

export const MetricsRowSchema = Type.Object({
  window_start: DateTime('Start of the one-minute event-time window (inclusive).'),
  window_end: DateTime('End of the window (exclusive).'),
  stream_id: Type.String(),
  active_viewers: Count('Users joined at the end of the window.'),
  chat_messages: Count('Chat messages in the window.'),
  donations_usd: Type.Number({ minimum: 0, description: 'Sum of donations in the window, USD.' }),
  donation_count: Count('Donations in the window.'),
  viewer_joins: Count('viewer_join events in the window.'),
  viewer_leaves: Count('viewer_leave events in the window.'),
  events: Count('Events counted in the window.'),
  is_final: Type.Boolean({
    description: 'True once the watermark passed the window end; false while it may still change.',
  }),
  updated_at: DateTime('When the processor last wrote this row.'),
});
export type MetricsRow = Static<typeof MetricsRowSchema>;

export const TopRowSchema = Type.Object({
  stream_id: Type.String(),
  donations_usd: Type.Number({ minimum: 0, description: 'Sum over the range, USD.' }),
  chat_messages: Count('Sum over the range.'),
  active_viewers: Count("Viewers in the stream's latest window within the range."),
  windows: Count('Windows of the stream within the range.'),
});
export type TopRow = Static<typeof TopRowSchema>;

export const StateRowSchema = Type.Object({
  stream_id: Type.String(),
  active_viewers: Count('Users joined right now (as of the last processed event).'),
  last_event_at: DateTime('Event time of the last event of the stream.'),
  updated_at: DateTime('When the processor last wrote this row.'),
});
export type StateRow = Static<typeof StateRowSchema>;
