export {
  type CommittedFile,
  LakeCommitLog,
  type PartitionFiles,
  type StagedFile,
  type WriterClaim,
} from './commit-log.ts';
export {
  type Layer,
  type LayerFile,
  type LayerOutput,
  type LayerPartition,
  LakeWriter,
  type LakeWriterOptions,
  LostFileError,
} from './lake-writer.ts';
