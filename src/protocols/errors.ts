// Error texts both HTTP parsers give exchanges, for the same cause.

/** Exchanges in flight when the capture lost whole calls of their connection (a full ring, or a full in-flight table). */
export const LOST_CALLS_ERROR = 'capture lost data: calls missing (a full ring or in-flight table)';
