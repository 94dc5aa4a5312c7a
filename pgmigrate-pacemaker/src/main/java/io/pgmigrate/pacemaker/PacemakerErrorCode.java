package io.pgmigrate.pacemaker;

import io.pgmigrate.ErrorCode;

/**
 * The error codes of the Pacemaker module.
 *
 * @since 0.1.0
 */
public enum PacemakerErrorCode implements ErrorCode {
    /**
     * A command of the cluster manager (Pacemaker's {@code crm_resource}, {@code cibadmin}, ...) failed or the cluster
     * did not reach the expected state in time; the message names the command, its exit code and output.
     */
    CLUSTER_COMMAND_FAILED
}
