ALTER TABLE `api_tokens` ADD `role` text;--> statement-breakpoint
ALTER TABLE `api_tokens` ADD `owner` text;--> statement-breakpoint
ALTER TABLE `api_tokens` ADD `expires_at` integer;--> statement-breakpoint
ALTER TABLE `history` ADD `via` text;