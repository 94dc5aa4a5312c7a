package io.pgmigrate.core.internal.state;

import io.pgmigrate.Side;

import java.time.Instant;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/**
 * What the state store holds for one migration (see {@link JournalFormat} for its text). Immutable: every change is
 * a new document, which the journal saves before it takes its place.
 *
 * @param format      the version of the on-disk format, {@link JournalFormat#CURRENT} for documents this version
 *                    writes
 * @param migration   the migration's name
 * @param source      the source's printable endpoint (no password)
 * @param target      the target's printable endpoint (no password)
 * @param createdAt   when the migration was first started
 * @param updatedAt   when the document was last saved
 * @param generation  counts the saves; a save writes the next one, and only over the one it read
 * @param active      where traffic goes, as far as the journal knows
 * @param cutover     the cutover or rollback in progress, if any
 * @param lastCutover the last finished cutover or rollback, if any
 * @param databases   each database's entry, in the order they were first written
 */
public record JournalDocument(int format, String migration, String source, String target, Instant createdAt,
                              Instant updatedAt, long generation, Side active, Optional<PendingMove> cutover,
                              Optional<FinishedMove> lastCutover, Map<String, DatabaseRecord> databases) {

    public JournalDocument {
        Objects.requireNonNull(migration, "migration");
        Objects.requireNonNull(source, "source");
        Objects.requireNonNull(target, "target");
        Objects.requireNonNull(createdAt, "createdAt");
        active = active == null ? Side.SOURCE : active;
        cutover = cutover == null ? Optional.empty() : cutover;
        lastCutover = lastCutover == null ? Optional.empty() : lastCutover;
        databases = databases == null ? Map.of() : Collections.unmodifiableMap(new LinkedHashMap<>(databases));
    }

    /** A new migration's document. */
    public static JournalDocument create(String migration, String source, String target, Instant now) {
        return new JournalDocument(JournalFormat.CURRENT, migration, source, target, now, now, 0, Side.SOURCE,
                Optional.empty(), Optional.empty(), Map.of());
    }

    /** One database's entry, {@link DatabaseRecord#EMPTY} when it has none yet. */
    public DatabaseRecord database(String name) {
        return databases.getOrDefault(name, DatabaseRecord.EMPTY);
    }

    public JournalDocument withDatabase(String name, DatabaseRecord entry) {
        Map<String, DatabaseRecord> dbs = new LinkedHashMap<>(databases);
        dbs.put(name, entry);
        return new JournalDocument(format, migration, source, target, createdAt, updatedAt, generation, active, cutover,
                lastCutover, dbs);
    }

    public JournalDocument withActive(Side side) {
        return new JournalDocument(format, migration, source, target, createdAt, updatedAt, generation, side, cutover,
                lastCutover, databases);
    }

    public JournalDocument withCutover(Optional<PendingMove> move) {
        return new JournalDocument(format, migration, source, target, createdAt, updatedAt, generation, active, move,
                lastCutover, databases);
    }

    public JournalDocument withLastCutover(FinishedMove move) {
        return new JournalDocument(format, migration, source, target, createdAt, updatedAt, generation, active, cutover,
                Optional.of(move), databases);
    }

    JournalDocument withGeneration(long g) {
        return new JournalDocument(format, migration, source, target, createdAt, updatedAt, g, active, cutover,
                lastCutover, databases);
    }

    /** The document as the next save writes it. */
    JournalDocument saved(Instant now) {
        return new JournalDocument(JournalFormat.CURRENT, migration, source, target, createdAt, now, generation + 1,
                active, cutover, lastCutover, databases);
    }
}
