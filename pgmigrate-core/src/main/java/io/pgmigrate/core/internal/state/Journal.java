package io.pgmigrate.core.internal.state;

import io.pgmigrate.CoreErrorCode;
import io.pgmigrate.MigrationConfig;
import io.pgmigrate.PgMigrateException;
import io.pgmigrate.Phase;
import io.pgmigrate.Side;
import io.pgmigrate.StateStore;

import java.time.Instant;
import java.util.Optional;
import java.util.function.UnaryOperator;

/**
 * The persisted record of what a migration has done, one entry per database (a {@link JournalDocument}, stored as
 * {@link JournalFormat} text). Before an object is created its flag is written here (the intent), so after a crash an
 * object found on a server with a journaled name is known to be ours, and one without is someone else's. Holds no
 * passwords: endpoints are stored in their printable form.
 *
 * <p>Every change is saved at once and takes effect in memory only when the save returned: a later read in this
 * process never sees what the caller was told failed.
 */
public final class Journal {

    private final StateStore store;
    private final String key;
    /** Runs before every write: throws when this process may no longer change the migration (see {@link Ownership}). */
    private final Runnable beforeWrite;
    /** What the store holds, as far as this process knows; its generation is the one this process read or wrote. */
    private JournalDocument doc;
    /** The text of a save that failed: it may have reached the store all the same. */
    private String attempted;

    private Journal(StateStore store, String key, JournalDocument doc, Runnable beforeWrite) {
        this.store = store;
        this.key = key;
        this.doc = doc;
        this.beforeWrite = beforeWrite;
    }

    /**
     * Loads the migration's journal, or starts a new one; refuses one written for other servers, and one this version
     * cannot read.
     *
     * @param beforeWrite runs before every write and throws when this process may no longer write
     */
    public static Journal load(MigrationConfig config, Runnable beforeWrite) {
        String key = config.name();
        var existing = config.stateStore().load(key);
        String source = config.source().toString();
        String target = config.target().toString();
        if (existing.isEmpty()) {
            return new Journal(config.stateStore(), key, JournalDocument.create(key, source, target, Instant.now()),
                    beforeWrite);
        }
        JournalDocument doc = parse(existing.get(), key, config.stateStore());
        if (!source.equals(doc.source()) || !target.equals(doc.target())) {
            throw new PgMigrateException(CoreErrorCode.STATE_CONFLICT, "the state of migration '" + key + "' in "
                    + config.stateStore() + " belongs to source " + doc.source() + " and target " + doc.target()
                    + ", not " + source + " and " + target
                    + "; give this migration another name(...) or complete() the old one");
        }
        return new Journal(config.stateStore(), key, doc, beforeWrite);
    }

    private static JournalDocument parse(String text, String key, StateStore store) {
        try {
            return JournalFormat.read(text);
        } catch (IllegalArgumentException e) {
            throw new PgMigrateException(CoreErrorCode.STATE_STORE_FAILED, null, "the state of migration '" + key
                    + "' in " + store + " is not readable: " + e.getMessage() + "; it was left as it is", e);
        }
    }

    /** The document as it was last read or saved. */
    public synchronized JournalDocument document() {
        return doc;
    }

    /** A view of one database's entry. */
    public DatabaseEntry database(String database) {
        return new DatabaseEntry(database);
    }

    /** Where traffic goes, as far as the journal knows. */
    public synchronized Side active() {
        return doc.active();
    }

    /** The cutover or rollback in progress, if any. */
    public synchronized Optional<PendingMove> pendingMove() {
        return doc.cutover();
    }

    /** The last cutover or rollback that finished, if any. */
    public synchronized Optional<FinishedMove> lastMove() {
        return doc.lastCutover();
    }

    /**
     * Applies a change to the document and saves it; memory holds the new document only once the save returned.
     * Several changes in one call are saved together, atomically. A change that changes nothing is saved all the
     * same: every write checks that this process still drives the migration, and callers rely on that check before
     * they touch a server.
     */
    public synchronized void update(UnaryOperator<JournalDocument> change) {
        save(change.apply(doc));
    }

    /**
     * Writes {@code next} through. Compares and swaps the generation: a journal another process wrote since this one
     * read it is never overwritten.
     */
    private void save(JournalDocument next) {
        beforeWrite.run();
        requireUnchanged();
        JournalDocument saved = next.saved(Instant.now());
        String text = JournalFormat.write(saved);
        attempted = text;
        store.save(key, text);
        doc = saved;
        attempted = null;
    }

    /** Forgets the migration. */
    public synchronized void delete() {
        beforeWrite.run();
        requireUnchanged();
        store.delete(key);
    }

    private void requireUnchanged() {
        var stored = store.load(key);
        if (stored.isPresent() && stored.get().equals(attempted)) {
            // The failed save did reach the store: go on from its generation with what memory holds (the caller was
            // told the change failed, so the next save writes memory over it).
            doc = doc.withGeneration(JournalFormat.generationOf(stored.get()));
            attempted = null;
            return;
        }
        long now;
        if (stored.isEmpty()) {
            now = 0;
        } else {
            try {
                now = JournalFormat.generationOf(stored.get());
            } catch (IllegalArgumentException e) {
                throw new PgMigrateException(CoreErrorCode.STATE_STORE_FAILED, null, "the state of migration '" + key
                        + "' in " + store + " is not readable: " + e.getMessage(), e);
            }
        }
        if (now != doc.generation()) {
            throw new PgMigrateException(CoreErrorCode.MIGRATION_IN_USE, "the state of migration '" + key + "' in "
                    + store + " was " + (stored.isEmpty() ? "deleted" : "changed") + " by another process since this"
                    + " one read it (generation " + now + ", this process has " + doc.generation() + "); this process"
                    + " stopped without changing anything more. Open the migration again to go on from what the"
                    + " state store holds");
        }
    }

    /** One database's part of the journal: reads the current document, and each change is saved at once. */
    public final class DatabaseEntry {

        private final String database;

        private DatabaseEntry(String database) {
            this.database = database;
        }

        public boolean flag(Flag flag) {
            synchronized (Journal.this) {
                return doc.database(database).flags().contains(flag);
            }
        }

        /** Sets a flag and saves the journal. */
        public void mark(Flag flag) {
            change(r -> r.with(flag, true));
        }

        /** Clears a flag and saves the journal; nothing to do, and no write, when it is not set. */
        public void unmark(Flag flag) {
            synchronized (Journal.this) {
                if (flag(flag)) {
                    change(r -> r.with(flag, false));
                }
            }
        }

        public Phase phase() {
            synchronized (Journal.this) {
                return doc.database(database).phase();
            }
        }

        /** The initial copy pgmigrate runs itself, while it runs. */
        public Optional<CopyRecord> copy() {
            synchronized (Journal.this) {
                return doc.database(database).copy();
            }
        }

        /** Replaces the copy's record (empty: forgets it) and saves the journal. */
        public void copy(Optional<CopyRecord> copy) {
            change(r -> r.withCopy(copy));
        }

        /** Applies a change to the copy's record, when there is one, and saves the journal. */
        public void changeCopy(UnaryOperator<CopyRecord> change) {
            change(r -> r.withCopy(r.copy().map(change)));
        }

        /** Records a phase and saves the journal. */
        public void phase(Phase phase) {
            change(r -> r.withPhase(phase));
        }

        private void change(UnaryOperator<DatabaseRecord> change) {
            update(d -> d.withDatabase(database, change.apply(d.database(database))));
        }
    }
}
