package io.pgmigrate;

/**
 * Data that logical replication does not carry, so a cutover would leave it on the old side. A cutover (and a
 * rollback) checks the old side for each kind right before it fences anything and refuses while any holds data,
 * naming it (large objects excepted: the cutover copies them), unless the migration accepts that kind with {@link MigrationBuilder#acceptLeftBehind(LeftBehind...)}
 * because the caller moves it some other way or does not need it.
 *
 * @since 0.1.0
 */
public enum LeftBehind {
    /**
     * Rows of unlogged tables ({@code CREATE UNLOGGED TABLE}): they write no WAL, so no stream can carry them. Fix:
     * {@code ALTER TABLE ... SET LOGGED} before {@code start()}.
     */
    UNLOGGED_TABLES,
    /**
     * Rows of tables in an inheritance hierarchy ({@code INHERITS}, not declarative partitioning), which this version
     * does not migrate.
     */
    INHERITED_TABLES,
    /**
     * Large objects ({@code lo_create}, {@code lo_import}): they live in {@code pg_largeobject}, which logical
     * replication does not carry. A cutover copies them itself (once before the fence, then what changed since inside
     * it), so they never stop it; accepting this kind skips that copy and leaves them on the old side.
     */
    LARGE_OBJECTS,
    /**
     * Rows an extension marks as user configuration ({@code pg_extension.extconfig}, such as {@code cron.job} or
     * user entries of {@code spatial_ref_sys}): extension members are not published; pg_dump copies these rows.
     */
    EXTENSION_CONFIGURATION
}
