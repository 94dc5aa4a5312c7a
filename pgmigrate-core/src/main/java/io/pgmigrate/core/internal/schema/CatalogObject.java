package io.pgmigrate.core.internal.schema;

import java.util.List;
import java.util.Objects;
import java.util.Set;

/**
 * One object of a schema copy: the statements that create it, whether it is needed before the rows arrive, and what
 * must exist first besides what {@code pg_depend} says.
 *
 * @param ref   its catalog identity, the key {@code pg_depend} uses; a made-up one ({@link Ref#extra}) for statements
 *              that are not an object of their own (a sequence's OWNED BY, an index's ATTACH, a comment)
 * @param kind  what it is, for messages ({@code table}, {@code function}, ...)
 * @param name  its qualified name, for messages
 * @param stage before or after the data
 * @param ddl   the statements, run in this order
 * @param needs objects it needs that {@code pg_depend} does not record (a partition needs its parent)
 */
record CatalogObject(Ref ref, String kind, String name, Stage stage, List<String> ddl, Set<Ref> needs) {

    /** When an object is created relative to the initial copy of the rows. */
    enum Stage {
        /** Needed to receive rows: types, functions, tables, keys, views. */
        BEFORE_DATA,
        /** Cheaper once the rows are there, or not needed by them: secondary indexes, foreign keys, triggers. */
        AFTER_DATA
    }

    /**
     * A catalog object as {@code pg_depend} names it.
     *
     * @param catalog the system catalog it lives in ({@code pg_class}, {@code pg_proc}, ...); a made-up name in
     *                brackets for a statement that is not an object of its own
     * @param oid     its oid in that catalog
     */
    record Ref(String catalog, long oid) {

        Ref {
            Objects.requireNonNull(catalog, "catalog");
        }

        /** A statement about the object {@code of} that is not an object of its own, told apart by {@code what}. */
        static Ref extra(String what, Ref of) {
            return new Ref("[" + what + "] " + of.catalog(), of.oid());
        }

        @Override
        public String toString() {
            return catalog + ":" + oid;
        }
    }

    CatalogObject {
        Objects.requireNonNull(ref, "ref");
        ddl = List.copyOf(ddl);
        needs = Set.copyOf(needs);
    }

    CatalogObject(Ref ref, String kind, String name, Stage stage, String ddl) {
        this(ref, kind, name, stage, List.of(ddl), Set.of());
    }

    CatalogObject needing(Set<Ref> more) {
        java.util.Set<Ref> all = new java.util.HashSet<>(needs);
        all.addAll(more);
        return new CatalogObject(ref, kind, name, stage, ddl, all);
    }

    CatalogObject at(Stage s) {
        return new CatalogObject(ref, kind, name, s, ddl, needs);
    }

    /** For messages: {@code table app.orders}. */
    String describe() {
        return kind + " " + name;
    }
}
