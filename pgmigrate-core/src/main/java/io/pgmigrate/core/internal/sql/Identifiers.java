package io.pgmigrate.core.internal.sql;

/**
 * The one place identifiers and literals are quoted for SQL text. Everything that cannot be a bind parameter (names in
 * DDL, the connection string of a subscription) passes through here.
 */
public final class Identifiers {

    private Identifiers() {
    }

    /** {@code "name"} with embedded double quotes doubled: safe for any identifier, including odd and hostile ones. */
    public static String quote(String identifier) {
        if (identifier == null || identifier.isEmpty()) {
            throw new IllegalArgumentException("identifier must not be empty");
        }
        if (identifier.indexOf('\0') >= 0) {
            throw new IllegalArgumentException("identifier must not contain NUL");
        }
        return '"' + identifier.replace("\"", "\"\"") + '"';
    }

    /** {@code "schema"."name"}. */
    public static String quote(String schema, String name) {
        return quote(schema) + '.' + quote(name);
    }

    /**
     * A string literal for a session with {@code standard_conforming_strings = on} (every connection pgmigrate opens
     * sets it): single quotes doubled, backslashes literal.
     */
    public static String literal(String value) {
        if (value.indexOf('\0') >= 0) {
            throw new IllegalArgumentException("string literal must not contain NUL");
        }
        return '\'' + value.replace("'", "''") + '\'';
    }

    /** A value inside a libpq connection string: single-quoted, with backslash and single quote escaped. */
    public static String conninfoValue(String value) {
        return '\'' + value.replace("\\", "\\\\").replace("'", "\\'") + '\'';
    }
}
