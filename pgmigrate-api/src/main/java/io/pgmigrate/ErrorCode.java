package io.pgmigrate;

/**
 * What went wrong, as a stable code a caller can compare or switch on: {@link PgMigrateException#code()}. The codes
 * of the API and core are {@link CoreErrorCode}; a module adds its own as an enum implementing this interface, so no
 * module has to change the API to report a failure of its own. Codes are compared by identity and printed by
 * {@link #name()}, which is unique across pgmigrate's modules.
 *
 * @since 0.1.0
 */
public interface ErrorCode {

    /**
     * The code's name, as printed in messages ({@code [CUTOVER_FAILED] ...}); an enum constant's own name.
     *
     * @return the name, unique across pgmigrate's modules
     */
    String name();
}
