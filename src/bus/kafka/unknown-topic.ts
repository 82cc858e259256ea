/**
 * The client reports a missing topic as a plain `UserError("Unknown topic <name>.")` (after a
 * metadata reply with UNKNOWN_TOPIC_OR_PARTITION); test/kafka/bus.test.ts pins this down.
 */
export function isUnknownTopic(error: unknown): boolean {
  return error instanceof Error && /^Unknown topic /.test(error.message);
}
