import { ConfigError } from '../../errors.ts';

/**
 * The dbt project cannot be run by rtsa's runner: a file it cannot read, a construct outside the
 * supported subset, a ref to nothing, a cycle. The message names the file and what to change.
 */
export class ProjectError extends ConfigError {}
