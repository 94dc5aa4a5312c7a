package io.pgmigrate;

/**
 * One result of a preflight check.
 *
 * @param severity how much it matters
 * @param check    a short stable identifier of the check, such as {@code wal_level}
 * @param database the database concerned, or empty when it is about a server
 * @param object   the object concerned (a table, a setting), or empty
 * @param message  one sentence on what is wrong and why it matters
 * @param fix      the SQL or setting that fixes it
 * @since 0.1.0
 */
public record Finding(Severity severity, String check, String database, String object, String message, String fix) {

    /**
     * Turns a null {@code database}, {@code object} or {@code fix} into an empty string.
     *
     * @param severity how much it matters
     * @param check    a short stable identifier of the check
     * @param database the database concerned, or null or empty when it is about a server
     * @param object   the object concerned, or null or empty
     * @param message  one sentence on what is wrong and why it matters
     * @param fix      the SQL or setting that fixes it, or null or empty when there is none
     */
    public Finding {
        database = database == null ? "" : database;
        object = object == null ? "" : object;
        fix = fix == null ? "" : fix;
    }
}
