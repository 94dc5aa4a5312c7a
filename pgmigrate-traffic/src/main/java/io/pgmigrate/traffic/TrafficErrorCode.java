package io.pgmigrate.traffic;

import io.pgmigrate.ErrorCode;

/**
 * The error codes of the traffic module.
 *
 * @since 0.2.0
 */
public enum TrafficErrorCode implements ErrorCode {
    /**
     * PgBouncer's admin console refused a command, could not be reached, or did not answer in time; the message names
     * the command and the database.
     */
    PGBOUNCER_FAILED,
    /**
     * Requests in flight did not finish within the hold's limit, so the requests held were let go again to the side
     * they were meant for and the cutover was abandoned before anything was fenced.
     */
    HOLD_TIMED_OUT
}
