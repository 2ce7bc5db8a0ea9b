/**
 * The metric families hearth exports, names exact, as DESIGN.md's metrics contract lists them: written
 * out here, not read from src, so the tests hold the code (GET /metrics) and the Grafana dashboard to
 * the contract rather than to each other.
 */
export const METRIC_FAMILIES: readonly string[] = [
  'hearth_jobs_total',
  'hearth_queue_jobs',
  'hearth_job_wait_seconds',
  'hearth_gpu_seconds_total',
  'hearth_chat_tokens_total',
  'hearth_image_steps_total',
  'hearth_gpu_utilization_ratio',
  'hearth_gpu_memory_used_bytes',
  'hearth_gpu_memory_total_bytes',
  'hearth_gpu_temperature_celsius',
  'hearth_gpu_power_watts',
];
