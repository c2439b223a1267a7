"""`authgate import-users`: the sources users come from (`sources`) and the command that runs an import
(`command`). The rules and the writing are the domain's (`authgate.domain.importer`)."""
