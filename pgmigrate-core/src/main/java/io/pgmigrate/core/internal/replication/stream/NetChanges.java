package io.pgmigrate.core.internal.replication.stream;

import io.pgmigrate.core.internal.replication.stream.PgOutputMessage.Delete;
import io.pgmigrate.core.internal.replication.stream.PgOutputMessage.Insert;
import io.pgmigrate.core.internal.replication.stream.PgOutputMessage.Relation;
import io.pgmigrate.core.internal.replication.stream.PgOutputMessage.TupleData;
import io.pgmigrate.core.internal.replication.stream.PgOutputMessage.Update;
import io.pgmigrate.core.internal.replication.stream.PgOutputMessage.Value;

import java.sql.SQLException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;

/**
 * The changes of one target transaction reduced to one net change per row, then executed table by table and kind by
 * kind, so that rows for the same statement go to the server in one batch: a row inserted and updated is inserted with
 * its last values, a row updated many times (a hot row) is updated once, a row inserted and deleted is not touched.
 *
 * <p>Rows are told apart by their table and replica-identity key; tables without one, or with replica identity FULL,
 * are not reduced: their changes are applied in the source's order within the table. Tables are independent of each
 * other here (foreign keys and triggers do not fire on the apply sessions). Executing deletes, then
 * updates, then inserts is exactly the source's end state for distinct rows; only a unique value other than the key,
 * moved between rows, can make the target refuse the order, and the applier then applies that stretch again
 * {@link Applier#exact() exactly} as it came.
 */
final class NetChanges {

    /** Rows held before they are executed anyway (a large source transaction). */
    private static final int LIMIT = 50_000;

    private enum Kind { DELETE, UPDATE, REPLACE, INSERT }

    /** Table and key of a row. */
    private record RowId(int relation, List<String> key) {
    }

    /** A row's net change: {@code key} is the row's key on the target before it (not for inserts). */
    /** {@code after}: the group that must be committed before this row is written. */
    private record Net(Relation relation, Kind kind, TupleData key, List<Value> row, long after) {
    }

    private final Applier applier;
    private final Map<RowId, Net> rows = new LinkedHashMap<>();
    private final Map<Integer, List<Held>> ordered = new LinkedHashMap<>();
    private int held;

    /** A change of a table whose rows have no key, kept in order. */
    private record Held(Relation relation, PgOutputMessage change, long after) {
    }
    private boolean enabled = true;

    NetChanges(Applier applier) {
        this.applier = applier;
    }

    void disable() {
        enabled = false;
    }

    /**
     * Takes a change of {@code r}; returns false when this table's changes are not reduced, after executing what was
     * held, so the caller applies the change at once and in order.
     */
    boolean add(Relation r, PgOutputMessage change) throws SQLException {
        if (!enabled) {
            return false;
        }
        if (r.replicaIdentity() == 'f' || r.columns().stream().noneMatch(PgOutputMessage.Column::key)) {
            // rows without a key are changed in the source's order, within their table; tables are independent
            // (foreign keys and triggers do not fire on the apply sessions)
            ordered.computeIfAbsent(r.oid(), k -> new ArrayList<>()).add(new Held(r, change, applier.writeAfter()));
            held++;
            if (held + rows.size() >= LIMIT) {
                execute();
            }
            return true;
        }
        TupleData oldKey;
        TupleData newRow;
        if (change instanceof Insert i) {
            oldKey = null;
            newRow = i.row();
        } else if (change instanceof Update u) {
            oldKey = u.oldKind() == 'K' ? u.old() : u.row();
            newRow = u.row();
        } else if (change instanceof Delete d) {
            oldKey = d.old();
            newRow = null;
        } else {
            throw new IllegalArgumentException(change.getClass().getSimpleName());
        }
        RowId from = oldKey == null ? null : id(r, oldKey);
        RowId to = newRow == null ? null : id(r, newRow);
        if ((oldKey != null && from == null) || (newRow != null && to == null)) {
            execute();
            return false; // a key value the stream did not send: apply as it comes
        }
        if (from != null && to != null && !from.equals(to) && rows.containsKey(to)) {
            execute(); // a key moved onto a row held here: the order matters, so what is held goes first
        }
        Net before = from == null ? rows.get(to) : rows.get(from);
        Net after;
        long dependsOn = applier.writeAfter();
        try {
            after = combine(r, before, oldKey, newRow, dependsOn);
        } catch (IllegalStateException impossible) {
            execute();
            before = null;
            after = combine(r, null, oldKey, newRow, dependsOn);
        }
        if (before != null) {
            rows.remove(from == null ? to : from);
        }
        if (after != null) {
            rows.put(to != null ? to : from, after);
        }
        if (held + rows.size() >= LIMIT) {
            execute();
        }
        return true;
    }

    private static Net combine(Relation r, Net before, TupleData oldKey, TupleData newRow, long dependsOn) {
        if (before == null) {
            if (oldKey == null) {
                return new Net(r, Kind.INSERT, null, newRow.values(), dependsOn);
            }
            return newRow == null ? new Net(r, Kind.DELETE, oldKey, null, dependsOn)
                    : new Net(r, Kind.UPDATE, oldKey, newRow.values(), dependsOn);
        }
        long after = Math.max(before.after(), dependsOn);
        if (oldKey == null) { // an insert
            if (before.kind() != Kind.DELETE) {
                throw new IllegalStateException("inserted twice");
            }
            return new Net(r, Kind.REPLACE, before.key(), newRow.values(), after);
        }
        if (before.kind() == Kind.DELETE) {
            throw new IllegalStateException("changed after its delete");
        }
        if (newRow == null) { // a delete
            return before.kind() == Kind.INSERT ? null : new Net(r, Kind.DELETE, before.key(), null, after);
        }
        return new Net(r, before.kind(), before.key(), merge(before.row(), newRow.values()), after);
    }

    /** The later row's values, and the earlier one's where the later one left a TOASTed value unsent. */
    private static List<Value> merge(List<Value> earlier, List<Value> later) {
        List<Value> merged = new ArrayList<>(later.size());
        for (int i = 0; i < later.size(); i++) {
            merged.add(later.get(i) == PgOutputMessage.Unchanged.INSTANCE ? earlier.get(i) : later.get(i));
        }
        return merged;
    }

    private static RowId id(Relation r, TupleData row) {
        List<String> key = new ArrayList<>();
        for (int i = 0; i < r.columns().size(); i++) {
            if (r.columns().get(i).key()) {
                Value v = row.values().get(i);
                if (v instanceof PgOutputMessage.Text t) {
                    key.add(t.text());
                } else if (v == PgOutputMessage.Null.INSTANCE) {
                    key.add(null);
                } else {
                    return null;
                }
            }
        }
        return new RowId(r.oid(), key);
    }

    /**
     * Executes what is held: first what depends on no group that is still uncommitted, at once; then the rest, after
     * waiting for the groups it depends on. Each pass: key-less tables' changes in their order, then deletes, updates
     * and inserts, each table's rows of one statement together.
     */
    void execute() throws SQLException {
        if (rows.isEmpty() && ordered.isEmpty()) {
            return;
        }
        long done = applier.committedGroup();
        List<Net> ready = new ArrayList<>();
        List<Net> waiting = new ArrayList<>();
        long waitFor = 0;
        for (Net n : rows.values()) {
            if (n.after() <= done) {
                ready.add(n);
            } else {
                waiting.add(n);
                waitFor = Math.max(waitFor, n.after());
            }
        }
        List<List<Held>> readyTables = new ArrayList<>();
        List<List<Held>> waitingTables = new ArrayList<>();
        for (List<Held> changes : ordered.values()) {
            long after = changes.stream().mapToLong(Held::after).max().orElse(0);
            if (after <= done) {
                readyTables.add(changes);
            } else {
                waitingTables.add(changes);
                waitFor = Math.max(waitFor, after);
            }
        }
        rows.clear();
        ordered.clear();
        held = 0;
        long before = applier.writeAfter();
        try {
            applier.writeAfter(0);
            executeOrdered(readyTables);
            applier.writeAfter(waitFor);
            executeOrdered(waitingTables);
            // deletes, then updates, then inserts (a key an update moves away is free for an insert), each kind's
            // ready rows first
            for (Kind kind : List.of(Kind.DELETE, Kind.UPDATE, Kind.INSERT)) {
                applier.writeAfter(0);
                executeKind(kind, ready);
                applier.writeAfter(waitFor);
                executeKind(kind, waiting);
            }
        } finally {
            applier.writeAfter(before);
        }
    }

    private void executeOrdered(List<List<Held>> tables) throws SQLException {
        for (List<Held> changes : tables) {
            List<List<Value>> inserts = new ArrayList<>();
            for (Held h : changes) {
                if (h.change() instanceof Insert i) {
                    inserts.add(i.row().values());
                    continue;
                }
                if (!inserts.isEmpty()) {
                    applier.insertAll(h.relation(), inserts);
                    inserts = new ArrayList<>();
                }
                if (h.change() instanceof Update u) {
                    applier.update(h.relation(), u);
                } else if (h.change() instanceof Delete d) {
                    applier.delete(h.relation(), d);
                }
            }
            if (!inserts.isEmpty()) {
                applier.insertAll(changes.get(0).relation(), inserts);
            }
        }
        applier.sendBatch();
    }

    /** One kind of net change (a replacement is a delete and an insert), each table's rows of one statement together. */
    private void executeKind(Kind kind, List<Net> all) throws SQLException {
        List<Net> these = new ArrayList<>();
        for (Net n : all) {
            if (n.kind() == kind || (n.kind() == Kind.REPLACE && kind != Kind.UPDATE)) {
                these.add(n);
            }
        }
        these.sort(Comparator.<Net>comparingInt(n -> n.relation().oid()).thenComparing(NetChanges::shape));
        for (List<Net> run : runs(these)) {
            Relation r = run.get(0).relation();
            switch (kind) {
                case DELETE -> applier.deleteAll(r, run.stream().map(Net::key).toList());
                case UPDATE -> applier.updateAll(r, run.stream().map(Net::key).toList(),
                        run.stream().map(Net::row).toList());
                case INSERT -> applier.insertAll(r, run.stream().map(Net::row).toList());
                default -> throw new IllegalStateException(kind.name());
            }
        }
    }

    /** Consecutive rows of the same table and shape: one statement each. */
    private static List<List<Net>> runs(List<Net> sorted) {
        List<List<Net>> runs = new ArrayList<>();
        List<Net> run = null;
        for (Net n : sorted) {
            if (run == null || run.get(0).relation().oid() != n.relation().oid()
                    || !shape(run.get(0)).equals(shape(n))) {
                run = new ArrayList<>();
                runs.add(run);
            }
            run.add(n);
        }
        return runs;
    }

    /** Which columns an update leaves alone: rows with the same shape share a statement. */
    private static String shape(Net n) {
        if (n.row() == null) {
            return "";
        }
        StringBuilder b = new StringBuilder(n.row().size());
        for (Value v : n.row()) {
            b.append(v == PgOutputMessage.Unchanged.INSTANCE ? 'u' : 'v');
        }
        return b.toString();
    }
}
