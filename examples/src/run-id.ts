// A run id as the runs service makes them (PostgreSQL's gen_random_uuid()): checked wherever one arrives
// from outside, so it can go into a URL path or a query as is.
export const RUN_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
