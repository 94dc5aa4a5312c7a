package io.pgmigrate.core.internal.schema;

import io.pgmigrate.core.internal.schema.CatalogObject.Ref;
import io.pgmigrate.core.internal.schema.CatalogObject.Stage;
import io.pgmigrate.core.internal.sql.Queries;

import java.sql.Connection;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;
import java.util.Set;

/**
 * Puts the objects of a schema copy in an order PostgreSQL can create them, from what {@code pg_depend} records on the
 * source, as pg_dump does.
 *
 * <p>{@code pg_depend} names the parts of an object, not only objects: a table's row type, a column, an array type,
 * the index behind a key, a view's {@code _RETURN} rule, an identity sequence, an extension's members. Each part is
 * mapped to the object that creates it, following its internal ({@code i}) and extension ({@code e}) dependencies, so
 * a function that returns {@code SETOF app.customer} comes after the table {@code app.customer}. Normal and automatic
 * dependencies between two objects of the copy are the edges; a sequence's automatic dependency on the column that
 * owns it is not (its {@code OWNED BY} is a statement of its own, after both).
 *
 * <p>Objects before the data come first; one that needs an object after the data moves after the data with it. Within
 * that, objects are sorted topologically, ties in the order the reader produced them (kind by kind), so the result is
 * deterministic. A cycle through a view is broken the way pg_dump does: the view is first created as a shell with its
 * columns and no query, and replaced by its real definition once what it reads exists. Any other cycle is an error
 * naming the objects in it.
 */
final class DependencyOrder {

    /** Raised when the objects cannot be ordered; names the objects of one cycle. */
    static final class CycleException extends Exception {
        private static final long serialVersionUID = 1L;

        CycleException(String message) {
            super(message);
        }
    }

    /**
     * One row of {@code pg_depend}: {@code object} depends on {@code referenced}, of type {@code type} ({@code n}
     * normal, {@code a} automatic, {@code i} internal, {@code e} extension member).
     */
    record Depend(Ref object, Ref referenced, char type) { }

    private DependencyOrder() {
    }

    /** The dependencies between user objects the source records: both ends created after initdb. */
    static List<Depend> readDepends(Connection source) throws SQLException {
        return Queries.list(source, """
                SELECT classid::regclass::text, objid, refclassid::regclass::text, refobjid, deptype::text
                FROM pg_depend
                WHERE objid >= 16384 AND refobjid >= 16384 AND deptype IN ('n', 'a', 'i', 'e')
                """, rs -> new Depend(new Ref(rs.getString(1), rs.getLong(2)), new Ref(rs.getString(3), rs.getLong(4)),
                rs.getString(5).charAt(0)));
    }

    /**
     * Orders {@code objects}.
     *
     * @param depends     what {@link #readDepends} returned
     * @param partOf      parts of objects {@code pg_depend} does not map to their object (an inline column default to
     *                    its table)
     * @param viewShells  for each view, the statement that creates it as a shell (its columns, no query)
     * @throws CycleException when objects need each other and no view among them can be created as a shell first
     */
    static List<CatalogObject> sort(List<CatalogObject> objects, List<Depend> depends, Map<Ref, Ref> partOf,
                                    Map<Ref, String> viewShells) throws CycleException {
        Map<Ref, CatalogObject> byRef = new LinkedHashMap<>();
        for (CatalogObject o : objects) {
            if (byRef.put(o.ref(), o) != null) {
                throw new IllegalStateException("two objects of the copy are " + o.ref());
            }
        }
        Map<Ref, Ref> owner = new HashMap<>(partOf);
        for (Depend d : depends) {
            if ((d.type() == 'i' || d.type() == 'e') && !byRef.containsKey(d.object())) {
                owner.putIfAbsent(d.object(), d.referenced());
            }
        }
        // A comment or label on an object the copy does not create (a foreign table's) is left out with it.
        List<CatalogObject> kept = new ArrayList<>();
        for (CatalogObject o : objects) {
            boolean about = o.kind().equals("comment") || o.kind().equals("security label");
            if (about && o.needs().stream().anyMatch(r -> resolve(r, byRef, owner) == null)) {
                byRef.remove(o.ref());
            } else {
                kept.add(o);
            }
        }
        objects = kept;
        Map<Ref, Set<Ref>> needs = new LinkedHashMap<>();
        for (CatalogObject o : objects) {
            Set<Ref> n = new LinkedHashSet<>();
            for (Ref r : o.needs()) {
                Ref to = resolve(r, byRef, owner);
                if (to != null && !to.equals(o.ref())) {
                    n.add(to);
                }
            }
            needs.put(o.ref(), n);
        }
        for (Depend d : depends) {
            Ref from = resolve(d.object(), byRef, owner);
            Ref to = resolve(d.referenced(), byRef, owner);
            if (from == null || to == null || from.equals(to) || !needs.containsKey(from)) {
                continue;
            }
            if (d.type() == 'i' || d.type() == 'e') {
                if (!byRef.containsKey(d.object())) {
                    continue; // a part of its owner: how it was mapped, not an edge
                }
            }
            // A sequence OWNED BY a column depends on it automatically; the table's default needs the sequence.
            if (d.type() == 'a' && byRef.get(from).kind().equals("sequence") && to.catalog().equals("pg_class")) {
                continue;
            }
            needs.get(from).add(to);
        }

        Map<Ref, Stage> stage = new HashMap<>();
        objects.forEach(o -> stage.put(o.ref(), o.stage()));
        boolean moved = true;
        while (moved) {
            moved = false;
            for (Map.Entry<Ref, Set<Ref>> e : needs.entrySet()) {
                if (stage.get(e.getKey()) == Stage.BEFORE_DATA
                        && e.getValue().stream().anyMatch(r -> stage.get(r) == Stage.AFTER_DATA)) {
                    stage.put(e.getKey(), Stage.AFTER_DATA);
                    moved = true;
                }
            }
        }

        Map<Ref, Integer> position = new HashMap<>();
        List<CatalogObject> all = new ArrayList<>();
        for (CatalogObject o : objects) {
            position.put(o.ref(), all.size());
            all.add(o.at(stage.get(o.ref())));
        }
        List<CatalogObject> out = new ArrayList<>();
        Set<Ref> done = new HashSet<>();
        while (true) {
            sortAcyclic(all, needs, position, done, out);
            if (done.size() == all.size()) {
                return out;
            }
            List<Ref> cycle = findCycle(all, needs, done);
            Ref view = cycle.stream().filter(r -> byRef.get(r).kind().equals("view") && viewShells.containsKey(r))
                    .findFirst().orElse(null);
            if (view == null) {
                List<String> names = cycle.stream().map(r -> byRef.get(r).describe()).toList();
                throw new CycleException("these objects need each other, in a cycle no shell breaks: "
                        + String.join(" -> ", names) + " -> " + names.get(0));
            }
            splitView(view, byRef, viewShells.get(view), all, needs, position);
            viewShells.remove(view);
        }
    }

    /** Kahn's algorithm over what is not done yet; ready objects in (stage, reader's order). */
    private static void sortAcyclic(List<CatalogObject> all, Map<Ref, Set<Ref>> needs, Map<Ref, Integer> position,
                                    Set<Ref> done, List<CatalogObject> out) {
        Map<Ref, CatalogObject> byRef = new HashMap<>();
        all.forEach(o -> byRef.put(o.ref(), o));
        Map<Ref, Integer> waiting = new HashMap<>();
        Map<Ref, List<Ref>> neededBy = new HashMap<>();
        for (CatalogObject o : all) {
            if (done.contains(o.ref())) {
                continue;
            }
            int n = 0;
            for (Ref r : needs.get(o.ref())) {
                if (!done.contains(r)) {
                    n++;
                    neededBy.computeIfAbsent(r, k -> new ArrayList<>()).add(o.ref());
                }
            }
            waiting.put(o.ref(), n);
        }
        PriorityQueue<CatalogObject> ready = new PriorityQueue<>(Comparator
                .comparing((CatalogObject o) -> o.stage())
                .thenComparing(o -> position.get(o.ref())));
        waiting.forEach((r, n) -> {
            if (n == 0) {
                ready.add(byRef.get(r));
            }
        });
        while (!ready.isEmpty()) {
            CatalogObject o = ready.poll();
            out.add(o);
            done.add(o.ref());
            for (Ref dependent : neededBy.getOrDefault(o.ref(), List.of())) {
                if (waiting.merge(dependent, -1, Integer::sum) == 0) {
                    ready.add(byRef.get(dependent));
                }
            }
        }
    }

    /** One cycle among the objects not done: every one of them waits for another one of them. */
    private static List<Ref> findCycle(List<CatalogObject> all, Map<Ref, Set<Ref>> needs, Set<Ref> done) {
        Ref start = all.stream().map(CatalogObject::ref).filter(r -> !done.contains(r)).findFirst().orElseThrow();
        Map<Ref, Integer> seenAt = new LinkedHashMap<>();
        List<Ref> path = new ArrayList<>();
        Ref at = start;
        while (!seenAt.containsKey(at)) {
            seenAt.put(at, path.size());
            path.add(at);
            at = needs.get(at).stream().filter(r -> !done.contains(r)).findFirst().orElseThrow();
        }
        return List.copyOf(path.subList(seenAt.get(at), path.size()));
    }

    /**
     * Breaks a cycle through {@code view}: a shell with its columns comes first and is what everything that needed
     * the view now needs; the view's real definition replaces the shell once what it reads exists.
     */
    private static void splitView(Ref view, Map<Ref, CatalogObject> byRef, String shellDdl, List<CatalogObject> all,
                                  Map<Ref, Set<Ref>> needs, Map<Ref, Integer> position) {
        CatalogObject real = byRef.get(view);
        Ref shellRef = Ref.extra("shell", view);
        Set<String> shellNeeds = Set.of("schema", "extension", "type", "domain", "collation");
        Set<Ref> forShell = new LinkedHashSet<>();
        for (Ref r : needs.get(view)) {
            if (shellNeeds.contains(byRef.get(r).kind())) {
                forShell.add(r);
            }
        }
        CatalogObject shell = new CatalogObject(shellRef, "view", real.name() + " (shell)", real.stage(),
                List.of(shellDdl), Set.of());
        for (Set<Ref> n : needs.values()) {
            if (n.remove(view)) {
                n.add(shellRef);
            }
        }
        needs.put(shellRef, forShell);
        needs.get(view).add(shellRef);
        byRef.put(shellRef, shell);
        position.put(shellRef, position.get(view));
        all.add(shell);
        // The real definition replaces the shell.
        List<String> replace = new ArrayList<>();
        for (String s : real.ddl()) {
            replace.add(s.replaceFirst("^CREATE VIEW ", "CREATE OR REPLACE VIEW "));
        }
        int i = all.indexOf(real);
        CatalogObject replaced = new CatalogObject(real.ref(), real.kind(), real.name(), real.stage(), replace,
                real.needs());
        all.set(i, replaced);
        byRef.put(view, replaced);
    }

    private static Ref resolve(Ref ref, Map<Ref, CatalogObject> byRef, Map<Ref, Ref> owner) {
        Ref at = ref;
        for (int i = 0; i < 16 && at != null; i++) {
            if (byRef.containsKey(at)) {
                return at;
            }
            at = owner.get(at);
        }
        return null;
    }
}
