package io.pgmigrate;

import java.util.regex.Pattern;

/**
 * How identifiers are shown to people: bare when PostgreSQL would accept them bare, otherwise double-quoted.
 *
 * @since 0.1.0
 */
final class Names {

    private static final Pattern PLAIN = Pattern.compile("[a-z_][a-z0-9_$]*");

    private Names() {
    }

    static String displayName(String identifier) {
        return PLAIN.matcher(identifier).matches() ? identifier : '"' + identifier.replace("\"", "\"\"") + '"';
    }
}
