/** How a run's id travels from transform to publish (which adopts the version's checkpoint with it). */
export const RUN_ID_HEADER = 'x-run-id';
