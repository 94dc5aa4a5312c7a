package io.pgmigrate;

/**
 * How much a preflight finding matters.
 *
 * @since 0.1.0
 */
public enum Severity {
    /** The migration cannot start until this is fixed. */
    BLOCKER,
    /** The migration can run, but something will not behave as one would assume. */
    WARNING,
    /** Worth knowing. */
    INFO
}
