"""The application layer: one function per use case, between the Workspace and the stages.

Each function gathers what a job needs (a campaign, a segment, a digest, settings sections, store
repositories, the secret) and calls the stages with it. Stages (feeds, compose, render, audience,
send, store) never import this package nor ``commskit.workspace``; see CONTRIBUTING.md.
"""
