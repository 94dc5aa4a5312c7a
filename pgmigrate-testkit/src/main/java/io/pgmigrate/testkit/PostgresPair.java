package io.pgmigrate.testkit;

import org.junit.jupiter.api.extension.ExtendWith;

import java.lang.annotation.Documented;
import java.lang.annotation.ElementType;
import java.lang.annotation.Inherited;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;

/**
 * Gives a test class a source and a target PostgreSQL server, injected as {@link PostgresServer} parameters marked
 * {@link Source @Source} and {@link Target @Target} into constructors, lifecycle methods and test methods. The two
 * servers start once per test class, concurrently, and are closed after it; nested classes use their outer class's
 * pair.
 *
 * <pre>{@code
 * @PostgresPair(source = 14, target = 18)
 * class UpgradeTest {
 *     @Test
 *     void copiesTheShop(@Source PostgresServer source, @Target PostgresServer target) { ... }
 * }
 * }</pre>
 */
@java.lang.annotation.Target(ElementType.TYPE)
@Retention(RetentionPolicy.RUNTIME)
@Documented
@Inherited
@ExtendWith(PostgresPairExtension.class)
public @interface PostgresPair {

    /** The major version of the source server. */
    int source() default 14;

    /** The major version of the target server. */
    int target() default 18;

    /** Where the servers come from; the system property {@code pgmigrate.testkit.provider} overrides it. */
    ServerProvider provider() default ServerProvider.EMBEDDED;
}
