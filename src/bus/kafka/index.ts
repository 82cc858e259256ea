export { type KafkaBusOptions, KafkaBus } from './kafka-bus.ts';
export type { KafkaSource } from './kafka-source.ts';
