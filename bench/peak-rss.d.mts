/** This process's peak resident memory in MB since its own program started (VmHWM). */
export function peakRssMB(): number;
/** The same for the Python peers: a `peak_rss_mb()` function to paste before their script. */
export const PYTHON_PEAK_RSS_MB: string;
