export type { DataTest, MartsProject, Materialization, Model } from './project.ts';
export { loadProject } from './project.ts';
export { ProjectError } from './project-error.ts';
export {
  type BuildResult,
  buildMarts,
  type DataTestResult,
  DEFAULT_PROJECT_DIR,
  describeFailure,
  type MartsOptions,
  type ModelResult,
  type TestResult,
  testMarts,
} from './run-marts.ts';
