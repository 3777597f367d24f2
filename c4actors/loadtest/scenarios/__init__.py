"""The load tester's scenarios, one module each: ``games``, ``idle``, ``churn``, ``echo``."""
