// App Mesh's runtime layer 0 (its agent's getRuntimeConfigLayer0), with the environment
// toggles it read. Envoy 1.40 removed all five of its reloadable features: setting a removed
// one logs an envoy_bug error with a stack trace at every start ("Using a removed guard"), so
// meshd writes only the two keys this Envoy still reads and says what became of the others.

import { RE2_MAX_PROGRAM_SIZE } from '../model/re2/program';

export interface RuntimeToggle {
  /** The App Mesh variable, read as Go's strconv.ParseBool reads it. */
  readonly variable: string;
  readonly flag: string;
  readonly feature: string;
  /** The agent's value when the variable is unset. */
  readonly appMeshDefault: boolean;
  /** Why Envoy 1.40 cannot take a value other than the default, for the removed guards. */
  readonly removed?: string;
}

export const RUNTIME_TOGGLES: readonly RuntimeToggle[] = [
  {
    variable: 'APPMESH_SET_TRACING_DECISION',
    flag: 'set-tracing-decision',
    feature: 'envoy.reloadable_features.http_set_tracing_decision_in_request_id',
    appMeshDefault: true,
    removed:
      'Envoy 1.40 removed this feature, and the connection managers meshd compiles never record a tracing decision in x-request-id (what false asked for)',
  },
  {
    variable: 'ENVOY_NO_EXTENSION_LOOKUP_BY_NAME',
    flag: 'no-extension-lookup-by-name',
    feature: 'envoy.reloadable_features.no_extension_lookup_by_name',
    appMeshDefault: true,
    removed:
      "Envoy 1.40 removed this feature and always looks extensions up by type URL (meshd's resources are all typed)",
  },
  {
    variable: 'ENVOY_ENABLE_TCP_POOL_IDLE_TIMEOUT',
    flag: 'tcp-pool-idle-timeout',
    feature: 'envoy.reloadable_features.tcp_pool_idle_timeout',
    appMeshDefault: true,
    removed: 'Envoy 1.40 removed this feature: idle TCP upstream connections always close after 10 minutes',
  },
  {
    variable: 'ENVOY_SANITIZE_ORIGINAL_PATH',
    flag: 'sanitize-original-path',
    feature: 'envoy.reloadable_features.sanitize_original_path',
    appMeshDefault: true,
    removed: 'Envoy 1.40 removed this feature and always sanitizes x-envoy-original-path from untrusted clients',
  },
  {
    variable: 'ENVOY_ACTIVE_HEALTH_CHECK_UNEJECT_HOST',
    flag: 'active-health-check-uneject-host',
    feature: 'envoy.reloadable_features.successful_active_health_check_uneject_host',
    appMeshDefault: false,
    removed:
      "Envoy 1.40 removed this feature; meshd's clusters keep App Mesh's default instead (outlier_detection.successful_active_health_check_uneject_host: false)",
  },
];

/** Toggles whose value a user set that this Envoy cannot honour, one line each. */
export function unhonouredToggles(values: ReadonlyMap<string, boolean>): string[] {
  return RUNTIME_TOGGLES.filter(
    (t) => t.removed !== undefined && values.get(t.flag) !== undefined && values.get(t.flag) !== t.appMeshDefault,
  ).map((t) => `${t.variable}=${values.get(t.flag)} has no effect: ${t.removed}`);
}

/** The static runtime layer (also for meshd render --static). */
export function appMeshStaticLayer(): Record<string, boolean | number> {
  return {
    'envoy.features.enable_all_deprecated_features': true,
    're2.max_program_size.error_level': RE2_MAX_PROGRAM_SIZE,
  };
}
