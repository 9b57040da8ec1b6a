"""The sequence every command and the Python API share, with typed inputs and results and no
printing: `checked` (load the repository and check it), `planned` (the desired state with what
the server supplies, the live state, the plan), `applied` (the lock, the writes, the ownership
inventory). What a user should see along the way goes to a `Notify` callback."""
