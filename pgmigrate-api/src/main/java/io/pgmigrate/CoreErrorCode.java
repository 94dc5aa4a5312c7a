package io.pgmigrate;

/**
 * The error codes of pgmigrate's API and core: what went wrong, as a stable code a caller can switch on. Modules add
 * codes of their own through {@link ErrorCode} (the Pacemaker module's {@code PacemakerErrorCode}).
 *
 * @since 0.1.0
 */
public enum CoreErrorCode implements ErrorCode {
    /** The configuration given to the builder is invalid. */
    INVALID_CONFIGURATION,
    /** A server could not be reached, or dropped the connection. */
    CONNECTION_FAILED,
    /** The server refused the credentials or pg_hba.conf rejected the connection. */
    AUTHENTICATION_FAILED,
    /** The migration role lacks a privilege it needs. */
    PERMISSION_DENIED,
    /** A server setting prevents the migration (for example {@code wal_level}). */
    SERVER_SETTING,
    /** The server's major version, or the pair of majors, is not supported. */
    UNSUPPORTED_VERSION,
    /** A database named in the configuration does not exist or cannot be created. */
    DATABASE_MISSING,
    /** Preflight found at least one blocker. */
    PREFLIGHT_FAILED,
    /** The schema could not be created on the target. */
    SCHEMA_COPY_FAILED,
    /** Creating or running a replication object failed. */
    REPLICATION_FAILED,
    /** An object the migration needs (a slot, a subscription) is gone; see the message for what to do. */
    REPLICATION_OBJECT_LOST,
    /** An object with the name the migration wants already exists and was not created by it. */
    NAME_COLLISION,
    /** The persisted state and the servers disagree in a way that cannot be repaired automatically. */
    STATE_CONFLICT,
    /** The state store could not be read or written. */
    STATE_STORE_FAILED,
    /**
     * Another process drives this migration now (it holds the migration's lock on the source), or this process lost
     * the lock; the message names the holder. Nothing was changed.
     */
    MIGRATION_IN_USE,
    /** A bounded wait ran out. */
    TIMEOUT,
    /**
     * The calling thread was interrupted; the interrupt flag is set again. What the operation had done stays as its
     * journal says: calling it again goes on from there.
     */
    INTERRUPTED,
    /**
     * A cutover or rollback was abandoned before traffic moved: every fence was lifted and traffic stayed where it
     * was. {@link CutoverException#report()} says which step failed and why.
     */
    CUTOVER_FAILED,
    /** A comparison of source and target found differences. */
    VERIFICATION_FAILED,
    /** The operation is not valid in the migration's current phase. */
    INVALID_PHASE,
    /** No implementation of the API (pgmigrate-core) is on the class path. */
    IMPLEMENTATION_MISSING,
    /** An unexpected failure inside pgmigrate: a bug, please report it. */
    INTERNAL
}
