// The V8 flags every launcher of the sensor passes to node (npm start, the
// executable's #! line, the Dockerfile, the systemd unit, the bench); a unit
// test checks that they all carry exactly these.
//
// --max-semi-space-size=8: V8 otherwise grows the young generation to 2 × 16
// MiB under a steady stream of records, a third of the sensor's RSS under
// load. Measured on the bench machine (unpaced HTTPS load, alternating runs):
// 8 MiB semi-spaces took 9–15 MB less RSS with the same sensor CPU per
// request; 4 MiB saved more but cost more frequent young-generation GCs.
export const SENSOR_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=8'];
