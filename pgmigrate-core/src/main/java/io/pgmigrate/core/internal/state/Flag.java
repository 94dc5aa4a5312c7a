package io.pgmigrate.core.internal.state;

import io.pgmigrate.Side;

/**
 * An object a migration created, or a step it finished, on one database. The journal records each before the object
 * is created (the intent): after a crash an object found with a journaled name is ours, one without is someone else's.
 */
public enum Flag {
    /** The forward stream's publication on the source. */
    PUBLICATION,
    /** The forward stream's subscription on the target and its slot on the source. */
    SUBSCRIPTION,
    /** The reverse stream's publication on the target. */
    REVERSE_PUBLICATION,
    /** The reverse stream's subscription on the source and its slot on the target. */
    REVERSE_SUBSCRIPTION,
    /** The fence's schema, function and triggers on the source. */
    SOURCE_FENCE,
    /** The fence's schema, function and triggers on the target. */
    TARGET_FENCE,
    /** The target database, created by this migration (so it may drop it when the first start fails). */
    TARGET_DATABASE_CREATED,
    /** The schema was copied to the target. */
    SCHEMA_COPIED,
    /**
     * The catalog copy created the schema up to its data: indexes, keys, triggers and foreign keys are the copy's to
     * create after it. Set before the tables are created (the intent).
     */
    AFTER_DATA_PENDING,
    /**
     * The foreign keys wait for PostgreSQL's table synchronisation to fill the tables a cut-short copy left empty
     * (they would refuse the rows that point into them until then).
     */
    FOREIGN_KEYS_PENDING,
    /** The outbound link a cutover prepared, not yet part of a finished cutover. */
    OUTBOUND_CREATED_BY_CUTOVER,
    /** The outbound link a rollback prepared, not yet part of a finished rollback. */
    OUTBOUND_CREATED_BY_ROLLBACK,
    /** STREAM: the forward stream is to run (in the process that drives the migration). */
    STREAM_ENABLED,
    /** STREAM: the reverse stream is to run. */
    REVERSE_STREAM_ENABLED,
    /** STREAM: the forward stream skips changes that were themselves replicated ({@code origin = none}). */
    STREAM_ORIGIN_NONE,
    /** STREAM: the reverse stream skips changes that were themselves replicated. */
    REVERSE_STREAM_ORIGIN_NONE,
    /** The DDL capture's schema, functions and event trigger on the source. */
    SOURCE_DDL,
    /** The DDL capture's schema, functions and event trigger on the target. */
    TARGET_DDL;

    /** The fence on {@code side}. */
    public static Flag fence(Side side) {
        return side == Side.SOURCE ? SOURCE_FENCE : TARGET_FENCE;
    }

    /** The outbound link a move towards {@code to} prepares. */
    public static Flag outboundCreatedBy(Side to) {
        return to == Side.TARGET ? OUTBOUND_CREATED_BY_CUTOVER : OUTBOUND_CREATED_BY_ROLLBACK;
    }
}
