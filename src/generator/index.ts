/**
 * The event generator and producer: live-stream traffic (`createEventGenerator`), paced onto the
 * bus or a running API (`runGenerator`), and NDJSON files replayed as they are (`produceFile`).
 */
export { BAD_EVENT_KINDS, type BadEventKind } from './bad-events.ts';
export {
  createEventGenerator,
  type EventGenerator,
  type GeneratedEvent,
  type GeneratorOptions,
} from './event-generator.ts';
export { type EventOutput, type OutputMessage, sinkOutput } from './event-output.ts';
export { type EventWeights, formatWeights, parseWeights } from './event-weights.ts';
export { type HttpOutputOptions, httpOutput } from './http-output.ts';
export {
  type FileProgress,
  type ProduceFileOptions,
  type ProduceFileResult,
  produceFile,
} from './produce-file.ts';
export {
  type GeneratorProgress,
  type GeneratorStats,
  type RunGeneratorOptions,
  runGenerator,
  type StopReason,
} from './run-generator.ts';
