import type { Sink } from '../bus/types.ts';

/** A message for the `stream.events` topic: `value` is one raw event line, without its newline. */
export interface OutputMessage {
  key: string;
  value: string | Buffer;
}

/**
 * Where the generator and `produce` send events: the bus (`sinkOutput`) or a running API
 * (`httpOutput`). `send` resolves once every message is accepted (durable) and throws a retriable
 * RtsaError (see `isRetriable`) when trying again later may work. A failed `send` may have
 * delivered part of the batch: sending it again can repeat events, which the processor counts
 * once by `event_id`.
 */
export interface EventOutput {
  send(messages: readonly OutputMessage[]): Promise<void>;
  close(): Promise<void>;
}

/** Appends to `topic` through a bus sink. The output owns the sink: `close` closes it. */
export function sinkOutput(sink: Sink, topic: string): EventOutput {
  return {
    send: (messages) => sink.send(topic, messages),
    close: () => sink.close(),
  };
}
