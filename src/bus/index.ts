export { BackOff } from './back-off.ts';
export { whileLogLocked } from './embedded/lock.ts';
export { partitionForKey } from './partitioner.ts';
export type {
  Bus,
  BusRecord,
  OutgoingMessage,
  Sink,
  Source,
  SourceHandler,
  SourceOptions,
  TopicInfo,
} from './types.ts';
