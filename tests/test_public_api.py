import microseg


def test_public_surface_is_deliberate() -> None:
    assert sorted(microseg.__all__) == [
        "ConfigError",
        "IngestError",
        "LoadReport",
        "MicrosegError",
        "RejectLimitError",
        "RuleError",
        "SourceNotFoundError",
        "Workspace",
        "WorkspaceConfig",
        "WorkspaceError",
        "WorkspaceStatus",
        "__version__",
        "load_config",
    ]


def test_errors_are_also_builtins() -> None:
    assert issubclass(microseg.ConfigError, ValueError)
    assert issubclass(microseg.SourceNotFoundError, FileNotFoundError)
    assert issubclass(microseg.IngestError, microseg.MicrosegError)
    assert issubclass(microseg.RejectLimitError, microseg.IngestError)
    assert issubclass(microseg.RuleError, microseg.MicrosegError)
    assert issubclass(microseg.RuleError, ValueError)
