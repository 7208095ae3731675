"""The tensorc grammar (grammar/tensorc.lark), installed as tensorc.grammar."""
