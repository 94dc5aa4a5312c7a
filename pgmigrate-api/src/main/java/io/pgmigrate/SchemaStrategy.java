package io.pgmigrate;

/**
 * How {@code start()} creates the schema of each database on the target before rows arrive.
 *
 * @see MigrationBuilder#schemaStrategy(SchemaStrategy)
 * @since 0.1.0
 */
public enum SchemaStrategy {
    /**
     * pgmigrate reads the source's catalog and creates every object through JDBC, for any pair of supported majors and
     * with no external program. Objects it cannot create are preflight findings naming each one.
     */
    CATALOG,
    /**
     * {@code pg_dump --schema-only} of the source, applied through JDBC. Needs a pg_dump at least as new as the source
     * server ({@link MigrationBuilder#pgDump(java.nio.file.Path)}, else the {@code PATH} and the usual installation
     * directories); preflight reports a blocker when none is found.
     */
    PG_DUMP,
    /**
     * The user manages the target's schema (Flyway, Liquibase, a script). pgmigrate creates nothing; preflight checks
     * that every table to replicate exists on the target with compatible columns.
     */
    NONE
}
