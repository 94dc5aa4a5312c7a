package io.pgmigrate;

import java.sql.Connection;
import java.sql.SQLException;
import java.util.List;
import java.util.Objects;

/**
 * The differences between the schemas of two databases, compared at the catalog level: every object that only one
 * side has, and every object whose definition differs, with both definitions as PostgreSQL prints them. The left side
 * is the reference (the source of a migration), the right side the copy (its target).
 *
 * @param differences the differences, ordered by object type and name
 * @since 0.1.0
 */
public record SchemaDiff(List<Difference> differences) {

    /** How an object differs between the left and the right database. */
    public enum Kind {
        /** The left database has the object, the right one does not. */
        MISSING,
        /** Only the right database has the object. */
        EXTRA,
        /** Both have the object, with different definitions. */
        DIFFERENT
    }

    /**
     * One object that differs.
     *
     * @param kind       how it differs
     * @param objectType the kind of catalog object, such as {@code table}, {@code index} or {@code function}
     * @param name       its name, schema-qualified and quoted where PostgreSQL would quote it; for objects that belong
     *                   to a table (constraints, triggers, rules, policies) the table's name, a dot and its own name
     * @param left       its normalized definition in the left database, empty when it is {@link Kind#EXTRA}
     * @param right      its normalized definition in the right database, empty when it is {@link Kind#MISSING}
     */
    public record Difference(Kind kind, String objectType, String name, String left, String right) {

        /**
         * Checks the components and turns a null {@code left} or {@code right} into an empty string.
         *
         * @param kind       how it differs
         * @param objectType the kind of catalog object
         * @param name       its name, schema-qualified and quoted where PostgreSQL would quote it
         * @param left       its definition in the left database, or null when it is {@link Kind#EXTRA}
         * @param right      its definition in the right database, or null when it is {@link Kind#MISSING}
         * @throws NullPointerException if {@code kind}, {@code objectType} or {@code name} is null
         */
        public Difference {
            Objects.requireNonNull(kind, "kind");
            Objects.requireNonNull(objectType, "objectType");
            Objects.requireNonNull(name, "name");
            left = left == null ? "" : left;
            right = right == null ? "" : right;
        }
    }

    /**
     * Makes an unmodifiable copy of {@code differences}.
     *
     * @param differences the differences, ordered by object type and name
     */
    public SchemaDiff {
        differences = List.copyOf(differences);
    }

    /**
     * Compares the schemas of the databases two connections are open to, {@code left} as the reference. Works on any
     * two connections, also to servers of different majors, outside any migration: a test that proves an upgrade
     * keeps the schema, or a check before a cutover. Reads only the catalogs; each session's {@code search_path} is
     * restored afterwards. Needs pgmigrate-core on the class path.
     *
     * @param left  the reference, usually the source
     * @param right the copy, usually the target
     * @return the differences, empty when the schemas are the same
     * @throws SQLException                 when reading either catalog fails
     * @throws PgMigrateException           ({@link CoreErrorCode#IMPLEMENTATION_MISSING}) without pgmigrate-core
     * @since 0.1.0
     */
    public static SchemaDiff between(Connection left, Connection right) throws SQLException {
        Objects.requireNonNull(left, "left");
        Objects.requireNonNull(right, "right");
        return MigrationBuilder.provider().compareSchemas(left, right);
    }

    /**
     * Whether the two schemas are the same.
     *
     * @return true when there are no differences
     */
    public boolean isEmpty() {
        return differences.isEmpty();
    }

    /**
     * The differences of one kind, in order.
     *
     * @param kind the kind to select
     * @return the differences of that kind; empty when there are none
     */
    public List<Difference> differences(Kind kind) {
        return differences.stream().filter(d -> d.kind() == kind).toList();
    }

    /**
     * A readable report for logs and terminals: one line per difference, followed for {@link Kind#DIFFERENT} objects
     * by both definitions, each on its own line prefixed with {@code <} (left) and {@code >} (right).
     *
     * @return the report, after a summary line with the count of each kind; a single line saying so when there are no
     *         differences
     */
    public String toText() {
        if (differences.isEmpty()) {
            return "schemas: no differences\n";
        }
        StringBuilder b = new StringBuilder();
        b.append(String.format("schemas: %d difference(s): %d missing on the right, %d extra on the right,"
                        + " %d different%n", differences.size(), differences(Kind.MISSING).size(),
                differences(Kind.EXTRA).size(), differences(Kind.DIFFERENT).size()));
        for (Difference d : differences) {
            b.append(String.format("%-9s %s %s%n", d.kind(), d.objectType(), d.name()));
            switch (d.kind()) {
                case MISSING -> appendDefinition(b, "<", d.left());
                case EXTRA -> appendDefinition(b, ">", d.right());
                case DIFFERENT -> {
                    appendDefinition(b, "<", d.left());
                    appendDefinition(b, ">", d.right());
                }
                default -> throw new AssertionError(d.kind());
            }
        }
        return b.toString();
    }

    private static void appendDefinition(StringBuilder b, String marker, String definition) {
        for (String line : definition.split("\n", -1)) {
            b.append("          ").append(marker).append(' ').append(line).append(System.lineSeparator());
        }
    }
}
