export { exportSilverDay, type SilverDayFiles } from './silver-export.ts';
export {
  type PlanType,
  type SignupFact,
  sixthSessionStarts,
  tierOf,
  type UserAttributes,
  type UserHistoryInput,
  type UserTier,
  type UserVersion,
  userVersions,
} from './user-history.ts';
export { type LoadOptions, type LoadResult, loadWarehouseDate } from './warehouse-load.ts';
