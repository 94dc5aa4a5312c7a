package io.pgmigrate;

/**
 * What happens to schema changes (DDL) the application makes while a migration runs.
 *
 * <p>Both need the migration role to be a superuser on both servers (event triggers need one). Without it, preflight
 * warns (with {@link #CARRY}) or refuses (with {@link #FREEZE}), and {@code status()} reports each table whose
 * definition no longer matches on the two sides.
 *
 * @see MigrationBuilder#schemaChanges(SchemaChanges)
 * @since 0.4.0
 */
public enum SchemaChanges {
    /**
     * Each statement is recorded on the side that takes writes and replayed on the other side at its place in the
     * stream, in both directions; a statement that cannot be replayed stops the stream, named in {@code status()}.
     * See docs/ddl.md.
     */
    CARRY,
    /**
     * Schema changes are refused on both sides from {@code start()} until {@code complete()}, with an error naming the
     * migration: for teams that freeze deployments during a move. Changes to temporary objects are allowed, and so
     * are the migration's own and those made with {@code Migration.applyOnFencedSide}.
     */
    FREEZE
}
