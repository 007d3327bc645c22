/** Public SSH host keys for configurations that are rendered but never connected to. */
export const HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICYPLraOGGKiRz6ZagnIhroIz/5Mr3wxeCrOeMmYNBVR";
export const OTHER_HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILpAi8k3hUCqQ8c9lM8n1koIXeBYlSONZ3h942UePGlc";
