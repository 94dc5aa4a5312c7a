package io.pgmigrate.testkit.internal;

import java.nio.charset.StandardCharsets;

/** The one place where the testkit turns a name into SQL text. */
public final class SqlIdentifier {

    /** PostgreSQL's NAMEDATALEN - 1; longer names are silently truncated by the server, which would hide mistakes. */
    private static final int MAX_BYTES = 63;

    private SqlIdentifier() {
    }

    /**
     * The name as a double-quoted identifier with embedded quotes doubled, so any text is taken as a name, never as SQL.
     *
     * @throws IllegalArgumentException for an empty name, one with a NUL character or one over 63 bytes
     */
    public static String quote(String name) {
        if (name == null || name.isEmpty()) {
            throw new IllegalArgumentException("identifier must not be empty");
        }
        if (name.indexOf('\0') >= 0) {
            throw new IllegalArgumentException("identifier must not contain a NUL character");
        }
        int bytes = name.getBytes(StandardCharsets.UTF_8).length;
        if (bytes > MAX_BYTES) {
            throw new IllegalArgumentException("identifier is " + bytes + " bytes, PostgreSQL keeps at most "
                    + MAX_BYTES + ": " + name);
        }
        return '"' + name.replace("\"", "\"\"") + '"';
    }
}
