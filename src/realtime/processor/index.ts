export { BusyWatermarks } from './busy-watermarks.ts';
export { createProcessorMetrics, type ProcessorMetrics } from './metrics.ts';
export { type EngineSettings, type IngestOutcome, PartitionState } from './partition-state.ts';
export { StreamPresence } from './presence.ts';
export {
  type ProcessorHealth,
  type ProcessorOptions,
  type ProcessorSettings,
  StreamProcessor,
} from './processor.ts';
export type * from './types.ts';
export { IsolationRestart, type QuarantinedRecord } from './isolation.ts';
