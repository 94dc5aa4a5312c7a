package io.pgmigrate.core.it;

import io.pgmigrate.testkit.PostgresPair;

/** The schema corpus copied from PostgreSQL 17 to 18. */
@PostgresPair(source = 17, target = 18)
class SchemaCorpus17To18IT extends SchemaCorpusContract {
}
