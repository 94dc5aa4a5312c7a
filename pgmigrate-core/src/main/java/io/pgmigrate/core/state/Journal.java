package io.pgmigrate.core.state;

import io.pgmigrate.CoreErrorCode;
import io.pgmigrate.MigrationConfig;
import io.pgmigrate.PgMigrateException;
import io.pgmigrate.Phase;
import io.pgmigrate.StateStore;

import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The persisted record of what a migration has done, one entry per database. Before an object is created its name is
 * written here (the intent), so after a crash an object found on a server with a journaled name is known to be ours,
 * and one without is someone else's. Holds no passwords: endpoints are stored in their printable form.
 */
public final class Journal {

    private static final int FORMAT = 1;

    private final StateStore store;
    private final String key;
    private final Map<String, Object> doc;
    /** Runs before every write: throws when this process may no longer change the migration (see {@link Ownership}). */
    private final Runnable beforeWrite;
    /** The generation this process read or last wrote; every save writes the next one, and only over this one. */
    private long generation;
    /** The document of a save that failed: it may have reached the store all the same. */
    private String attempted;

    private Journal(StateStore store, String key, Map<String, Object> doc, Runnable beforeWrite) {
        this.store = store;
        this.key = key;
        this.doc = doc;
        this.beforeWrite = beforeWrite;
        this.generation = generationOf(doc);
    }

    private static long generationOf(Map<String, Object> doc) {
        return doc.get("generation") instanceof Number n ? n.longValue() : 0;
    }

    /**
     * Loads the migration's journal, or starts a new one; refuses one written for other servers.
     *
     * @param beforeWrite runs before every write and throws when this process may no longer write
     */
    public static Journal load(MigrationConfig config, Runnable beforeWrite) {
        String key = config.name();
        var existing = config.stateStore().load(key);
        String source = config.source().toString();
        String target = config.target().toString();
        if (existing.isPresent()) {
            Map<String, Object> doc;
            try {
                doc = Json.parseObject(existing.get());
            } catch (IllegalArgumentException e) {
                throw new PgMigrateException(CoreErrorCode.STATE_STORE_FAILED, null, "the state of migration '" + key
                        + "' in " + config.stateStore() + " is not readable: " + e.getMessage(), e);
            }
            if (!source.equals(doc.get("source")) || !target.equals(doc.get("target"))) {
                throw new PgMigrateException(CoreErrorCode.STATE_CONFLICT, "the state of migration '" + key + "' in "
                        + config.stateStore() + " belongs to source " + doc.get("source") + " and target "
                        + doc.get("target") + ", not " + source + " and " + target
                        + "; give this migration another name(...) or complete() the old one");
            }
            return new Journal(config.stateStore(), key, doc, beforeWrite);
        }
        Map<String, Object> doc = new LinkedHashMap<>();
        doc.put("format", (long) FORMAT);
        doc.put("migration", key);
        doc.put("source", source);
        doc.put("target", target);
        doc.put("createdAt", Instant.now().toString());
        doc.put("databases", new LinkedHashMap<String, Object>());
        return new Journal(config.stateStore(), key, doc, beforeWrite);
    }

    /** The entry of one database, created empty when missing. */
    public synchronized DatabaseEntry database(String database) {
        @SuppressWarnings("unchecked")
        Map<String, Object> dbs = (Map<String, Object>) doc.get("databases");
        @SuppressWarnings("unchecked")
        Map<String, Object> entry = (Map<String, Object>) dbs.computeIfAbsent(database, d -> new LinkedHashMap<>());
        return new DatabaseEntry(entry);
    }

    /** A top-level value, such as the state of a cutover in progress. */
    public synchronized Object get(String name) {
        return doc.get(name);
    }

    /** Sets a top-level value (strings, numbers, booleans, lists and maps of those) and saves the journal. */
    public synchronized void put(String name, Object value) {
        changeAndSave(doc, name, value);
    }

    /** Removes a top-level value and saves the journal. */
    public synchronized void remove(String name) {
        if (doc.containsKey(name)) {
            changeAndSave(doc, name, null);
        }
    }

    /**
     * Sets ({@code value} non-null) or removes {@code name} in {@code map}, part of the document, and saves. When the
     * save fails the change is taken back, so memory never holds what the store may not: a later read in this process
     * sees what the caller was told failed as not done. (A failed save may still have reached the store; the next
     * save writes memory over it, see {@link #requireUnchanged()}.)
     */
    private void changeAndSave(Map<String, Object> map, String name, Object value) {
        boolean had = map.containsKey(name);
        Object old = value == null ? map.remove(name) : map.put(name, value);
        try {
            save();
        } catch (RuntimeException e) {
            if (had) {
                map.put(name, old);
            } else {
                map.remove(name);
            }
            throw e;
        }
    }

    /**
     * Writes the journal through; called after every change. Compares and swaps the generation: a journal another
     * process wrote since this one read it is never overwritten.
     */
    public synchronized void save() {
        beforeWrite.run();
        requireUnchanged();
        doc.put("updatedAt", Instant.now().toString());
        doc.put("generation", generation + 1);
        String text = Json.write(doc);
        attempted = text;
        store.save(key, text);
        generation++;
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
            generation = generationOf(doc); // the failed save did reach the store
            attempted = null;
            return;
        }
        long now;
        if (stored.isEmpty()) {
            now = 0;
        } else {
            try {
                now = generationOf(Json.parseObject(stored.get()));
            } catch (IllegalArgumentException e) {
                throw new PgMigrateException(CoreErrorCode.STATE_STORE_FAILED, null, "the state of migration '" + key
                        + "' in " + store + " is not readable: " + e.getMessage(), e);
            }
        }
        if (now != generation) {
            throw new PgMigrateException(CoreErrorCode.MIGRATION_IN_USE, "the state of migration '" + key + "' in "
                    + store + " was " + (stored.isEmpty() ? "deleted" : "changed") + " by another process since this"
                    + " one read it (generation " + now + ", this process has " + generation + "); this process"
                    + " stopped without changing anything more. Open the migration again to go on from what the"
                    + " state store holds");
        }
    }

    /** One database's part of the journal. */
    public final class DatabaseEntry {

        private final Map<String, Object> entry;

        private DatabaseEntry(Map<String, Object> entry) {
            this.entry = entry;
        }

        public boolean flag(String name) {
            synchronized (Journal.this) {
                return Boolean.TRUE.equals(entry.get(name));
            }
        }

        /** Sets a flag and saves the journal. */
        public void mark(String name) {
            synchronized (Journal.this) {
                changeAndSave(entry, name, Boolean.TRUE);
            }
        }

        /** Clears a flag and saves the journal. */
        public void unmark(String name) {
            synchronized (Journal.this) {
                if (entry.containsKey(name)) {
                    changeAndSave(entry, name, null);
                }
            }
        }

        public Phase phase() {
            synchronized (Journal.this) {
                Object p = entry.get("phase");
                return p == null ? Phase.NOT_STARTED : Phase.valueOf((String) p);
            }
        }

        /** Records a phase and saves the journal. */
        public void phase(Phase phase) {
            synchronized (Journal.this) {
                changeAndSave(entry, "phase", phase.name());
            }
        }
    }
}
