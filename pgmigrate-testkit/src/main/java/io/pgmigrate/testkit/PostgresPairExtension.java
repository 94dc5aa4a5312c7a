package io.pgmigrate.testkit;

import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ConditionEvaluationResult;
import org.junit.jupiter.api.extension.ExecutionCondition;
import org.junit.jupiter.api.extension.ExtensionConfigurationException;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.ParameterContext;
import org.junit.jupiter.api.extension.ParameterResolutionException;
import org.junit.jupiter.api.extension.ParameterResolver;
import org.junit.jupiter.api.extension.TestInstanceFactoryContext;
import org.junit.jupiter.api.extension.TestInstancePreConstructCallback;
import org.junit.platform.commons.support.AnnotationSupport;
import org.opentest4j.TestAbortedException;

import java.lang.reflect.Modifier;
import java.util.Locale;
import java.util.Optional;

/**
 * The JUnit 5 extension behind {@link PostgresPair}: starts the pair once per test class (or reuses the enclosing
 * class's) and resolves {@link Source @Source} and {@link Target @Target} parameters. Register it through
 * {@code @PostgresPair}, not directly.
 */
public final class PostgresPairExtension implements ExecutionCondition, BeforeAllCallback,
        TestInstancePreConstructCallback, ParameterResolver {

    /** System property (or JUnit configuration parameter) that overrides {@link PostgresPair#provider()}. */
    public static final String PROVIDER_PROPERTY = "pgmigrate.testkit.provider";

    private static final ExtensionContext.Namespace NAMESPACE =
            ExtensionContext.Namespace.create(PostgresPairExtension.class);

    /** Which servers a class asked for; the store key, so a nested class asking for the same reuses its parent's. */
    record Spec(int source, int target, ServerProvider provider) {
    }

    /**
     * Disables the class when it asks for containers and there is no Docker, so each test is reported as skipped
     * with the reason (an assumption failing in a class-level callback would make Surefire report no tests at all).
     */
    @Override
    public ConditionEvaluationResult evaluateExecutionCondition(ExtensionContext context) {
        if (!(context.getElement().orElse(null) instanceof Class<?>)) {
            return ConditionEvaluationResult.enabled("decided for the class");
        }
        return missingProvider(spec(context))
                .map(ConditionEvaluationResult::disabled)
                .orElseGet(() -> ConditionEvaluationResult.enabled("servers available"));
    }

    @Override
    public void beforeAll(ExtensionContext context) {
        // Starting here rather than lazily makes a start failure fail the class once, with the real cause.
        pair(context);
    }

    @Override
    public void preConstructTestInstance(TestInstanceFactoryContext factoryContext, ExtensionContext context) {
        // Backstop for runs without execution conditions: with a per-class lifecycle the instance is built before
        // beforeAll, and an assumption thrown from parameter resolution would be reported as a failure.
        requireProvider(spec(context));
    }

    @Override
    public boolean supportsParameter(ParameterContext parameterContext, ExtensionContext extensionContext) {
        boolean source = parameterContext.isAnnotated(Source.class);
        boolean target = parameterContext.isAnnotated(Target.class);
        if (!source && !target) {
            return false;
        }
        if (source && target) {
            throw new ParameterResolutionException(parameterContext.getParameter()
                    + " is marked both @Source and @Target; mark it with one");
        }
        Class<?> type = parameterContext.getParameter().getType();
        if (!type.isAssignableFrom(PostgresServer.class) && !PostgresServer.class.isAssignableFrom(type)) {
            throw new ParameterResolutionException(parameterContext.getParameter() + " is marked @"
                    + (source ? "Source" : "Target") + " but its type is " + type.getName()
                    + "; declare it as " + PostgresServer.class.getName());
        }
        return true;
    }

    @Override
    public Object resolveParameter(ParameterContext parameterContext, ExtensionContext extensionContext) {
        ServerPair pair = pair(extensionContext);
        PostgresServer server = parameterContext.isAnnotated(Source.class) ? pair.source() : pair.target();
        Class<?> type = parameterContext.getParameter().getType();
        if (!type.isInstance(server)) {
            throw new ParameterResolutionException(parameterContext.getParameter() + " wants a " + type.getName()
                    + " but the server is a " + server.getClass().getName() + "; declare it as PostgresServer");
        }
        return server;
    }

    private static ServerPair pair(ExtensionContext context) {
        Spec spec = spec(context);
        requireProvider(spec);
        // A store looks in its parents too: a nested class finds its enclosing class's pair of the same spec.
        return classContext(context).getStore(NAMESPACE).getOrComputeIfAbsent(spec, PostgresPairExtension::start,
                ServerPair.class);
    }

    private static ServerPair start(Spec spec) {
        if (spec.provider() == ServerProvider.TESTCONTAINERS) {
            return ContainerPostgresServer.startPair(spec.source(), spec.target());
        }
        return ServerPair.start(
                () -> EmbeddedPostgresServer.start(spec.source()),
                () -> EmbeddedPostgresServer.start(spec.target()),
                () -> { });
    }

    /** The same check as a JUnit assumption, for runs that deactivate execution conditions. */
    private static void requireProvider(Spec spec) {
        Optional<String> missing = missingProvider(spec);
        if (missing.isPresent()) {
            throw new TestAbortedException(missing.get());
        }
    }

    private static Optional<String> missingProvider(Spec spec) {
        if (spec.provider() != ServerProvider.TESTCONTAINERS) {
            return Optional.empty();
        }
        boolean docker;
        try {
            docker = ContainerPostgresServer.isDockerAvailable();
        } catch (LinkageError e) {
            throw new ExtensionConfigurationException("provider TESTCONTAINERS needs org.testcontainers:postgresql "
                    + "on the test class path (" + e + ")", e);
        }
        return docker ? Optional.empty() : Optional.of("Docker is needed for @PostgresPair(provider = "
                + "TESTCONTAINERS) and none was found; start Docker, or run with -D" + PROVIDER_PROPERTY
                + "=embedded");
    }

    static Spec spec(ExtensionContext context) {
        Class<?> testClass = classContext(context).getRequiredTestClass();
        PostgresPair annotation = findPair(testClass).orElseThrow(() -> new ExtensionConfigurationException(
                testClass.getName() + " uses " + PostgresPairExtension.class.getSimpleName()
                        + " but neither it nor an enclosing class is annotated @PostgresPair"));
        for (int major : new int[] {annotation.source(), annotation.target()}) {
            if (!PostgresBinaries.supportedMajors().contains(major)) {
                throw new ExtensionConfigurationException("@PostgresPair on " + testClass.getName() + " asks for "
                        + "PostgreSQL " + major + "; supported majors are " + PostgresBinaries.supportedMajors());
            }
        }
        ServerProvider provider = context.getConfigurationParameter(PROVIDER_PROPERTY)
                .map(String::trim)
                .filter(v -> !v.isEmpty())
                .map(PostgresPairExtension::parseProvider)
                .orElse(annotation.provider());
        return new Spec(annotation.source(), annotation.target(), provider);
    }

    static ServerProvider parseProvider(String value) {
        return switch (value.toLowerCase(Locale.ROOT)) {
            case "embedded" -> ServerProvider.EMBEDDED;
            case "testcontainers" -> ServerProvider.TESTCONTAINERS;
            default -> throw new ExtensionConfigurationException(PROVIDER_PROPERTY + "=" + value
                    + " is not a provider; use embedded or testcontainers");
        };
    }

    /** The annotation on the class, its superclasses, or (for inner classes) the classes enclosing it. */
    private static Optional<PostgresPair> findPair(Class<?> testClass) {
        for (Class<?> c = testClass; c != null; c = isInner(c) ? c.getEnclosingClass() : null) {
            Optional<PostgresPair> found = AnnotationSupport.findAnnotation(c, PostgresPair.class);
            if (found.isPresent()) {
                return found;
            }
        }
        return Optional.empty();
    }

    private static boolean isInner(Class<?> c) {
        return c.isMemberClass() && !Modifier.isStatic(c.getModifiers());
    }

    /** The nearest context of a class, where the pair lives for the class's whole run. */
    private static ExtensionContext classContext(ExtensionContext context) {
        ExtensionContext c = context;
        while (!(c.getElement().orElse(null) instanceof Class<?>)) {
            c = c.getParent().orElseThrow(() -> new ExtensionConfigurationException(
                    "@PostgresPair servers are only available inside a test class"));
        }
        return c;
    }
}
