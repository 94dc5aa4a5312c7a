package io.pgmigrate;

/** How much a preflight finding matters. */
public enum Severity {
    /** The migration cannot start until this is fixed. */
    BLOCKER,
    /** The migration can run, but something will not behave as one would assume. */
    WARNING,
    /** Worth knowing. */
    INFO
}
