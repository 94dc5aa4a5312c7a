package io.pgmigrate.core.internal.state;

import io.pgmigrate.Lsn;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * The initial copy of one database as pgmigrate runs it: the slot's consistent point, the snapshot the copy reads,
 * and every chunk of every table with whether it is done. Written before the slot is created (with no snapshot yet),
 * then after every chunk: a process that takes over after a crash knows which tables are complete.
 *
 * @param consistentPoint where the slot's stream starts, the copy's snapshot meets it there; {@link Lsn#ZERO} until
 *                        the slot exists
 * @param snapshot        the exported snapshot's name; valid only while the process that created the slot runs
 * @param tables          every published table, those with no rows to copy (a partitioned table without
 *                        partitions) included
 * @param chunks          the plan, largest table first
 */
public record CopyRecord(Lsn consistentPoint, String snapshot, List<Table> tables, List<ChunkRecord> chunks) {

    public CopyRecord {
        consistentPoint = consistentPoint == null ? Lsn.ZERO : consistentPoint;
        snapshot = snapshot == null ? "" : snapshot;
        tables = tables == null ? List.of() : List.copyOf(tables);
        chunks = chunks == null ? List.of() : List.copyOf(chunks);
    }

    /**
     * A published table.
     *
     * @param schema its schema
     * @param name   its name
     */
    public record Table(String schema, String name) {
    }

    /**
     * One part of one table's rows.
     *
     * @param schema      the published table's schema
     * @param table       the published table (a partitioned table's root)
     * @param leafSchema  the schema of the table the rows are read from and written to
     * @param leaf        that table: the published one, or one of its partitions
     * @param part        which part of the leaf, from 0
     * @param parts       how many parts the leaf has
     * @param done        whether the part is committed on the target
     * @param rows        rows copied, once done
     * @param bytes       bytes copied, once done
     */
    public record ChunkRecord(String schema, String table, String leafSchema, String leaf, int part, int parts,
                              boolean done, long rows, long bytes) {

        public ChunkRecord {
            Objects.requireNonNull(schema, "schema");
            Objects.requireNonNull(table, "table");
            Objects.requireNonNull(leafSchema, "leafSchema");
            Objects.requireNonNull(leaf, "leaf");
        }

        /** Whether this record is the part {@code part} of {@code leafSchema.leaf}. */
        public boolean is(String ls, String l, int p) {
            return leafSchema.equals(ls) && leaf.equals(l) && part == p;
        }
    }

    public CopyRecord withSlot(Lsn point, String name) {
        return new CopyRecord(point, name, tables, chunks);
    }

    /** The record with one part marked done. */
    public CopyRecord withDone(String leafSchema, String leaf, int part, long rows, long bytes) {
        List<ChunkRecord> next = new ArrayList<>(chunks.size());
        for (ChunkRecord c : chunks) {
            next.add(c.is(leafSchema, leaf, part) ? new ChunkRecord(c.schema(), c.table(), c.leafSchema(), c.leaf(),
                    c.part(), c.parts(), true, rows, bytes) : c);
        }
        return new CopyRecord(consistentPoint, snapshot, tables, next);
    }

    /** Whether every part is done. */
    public boolean complete() {
        return chunks.stream().allMatch(ChunkRecord::done);
    }
}
